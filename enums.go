package peliqan

// BackoffKind chooses how the wait between retries grows. It is an open
// string enum: RetryPolicy validation refuses values it does not know, so a
// typo fails at construction rather than silently changing behaviour.
type BackoffKind string

const (
	// BackoffExponentialJitter waits a random duration in
	// [0, min(MaxWait, MinWait*2^n)] ("full jitter"). The default: it spreads
	// retries from many clients apart.
	BackoffExponentialJitter BackoffKind = "exponential_jitter"
	// BackoffExponential waits min(MaxWait, MinWait*2^n).
	BackoffExponential BackoffKind = "exponential"
	// BackoffLinear waits min(MaxWait, MinWait*(n+1)).
	BackoffLinear BackoffKind = "linear"
	// BackoffConstant always waits MinWait.
	BackoffConstant BackoffKind = "constant"
)

// IsKnown reports whether k is one of the declared kinds.
func (k BackoffKind) IsKnown() bool {
	switch k {
	case BackoffExponentialJitter, BackoffExponential, BackoffLinear, BackoffConstant:
		return true
	}
	return false
}

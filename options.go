package peliqan

// How options are passed, everywhere in this package:
//
//   - Required input is a struct passed by value (SubAccountCreate,
//     ServerCreate, ScriptCreate): the zero value is not a valid request.
//   - Optional settings of one call are a struct passed by pointer, and nil
//     means "all defaults" (*ListOptions, *RowsOptions, *SyncOptions,
//     *WaitOptions, ...). The SDK never changes the struct it is given.
//   - Settings of a client or handler are functional options that report a
//     bad value as an error matching ErrInvalidArgument (Option,
//     RequestOption, ForEachOption, TokenHandlerOption, WebhookOption); a
//     constructor returns the first such error and never panics.

// optionsOr returns *p, or T's zero value (its defaults) for nil.
func optionsOr[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

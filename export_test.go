package peliqan

import (
	"net/http"
	"time"
)

// UseTenantClock makes the identity-token cache of tc (a client from
// PartnerClient.SubAccount) read time from now, so an external test can step
// the refresh window with the fake's ManualClock. Call it before tc's first
// request.
func UseTenantClock(tc *SubAccountClient, now func() time.Time) {
	tc.c.tokens.(*tenantTokens).now = now
}

// TokenHandlerWaiters counts the requests to h (an IntegrationTokenHandler)
// waiting on the in-flight integrate call for externalID.
func TokenHandlerWaiters(h http.Handler, externalID string) int {
	return waiters(&h.(*tokenHandler).flights, externalID)
}

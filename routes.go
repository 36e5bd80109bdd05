package peliqan

import "github.com/peliqan-community/peliqan-go/internal/routes"

// Route names, one per API operation, as used by peliqantest.FailNext and
// its request counts. They name entries of the SDK's single routes table.
const (
	RouteListSubAccounts        = routes.ListSubAccounts
	RouteCreateSubAccount       = routes.CreateSubAccount
	RouteGetSubAccount          = routes.GetSubAccount
	RouteSubAccountInfo         = routes.SubAccountInfo
	RouteUpdateSubAccount       = routes.UpdateSubAccount
	RouteDeleteSubAccount       = routes.DeleteSubAccount
	RouteSubAccountToken        = routes.SubAccountToken
	RouteIntegrationToken       = routes.IntegrationToken
	RouteServerTypes            = routes.ServerTypes
	RouteListServers            = routes.ListServers
	RouteGetServer              = routes.GetServer
	RouteCreateServer           = routes.CreateServer
	RouteDeleteServer           = routes.DeleteServer
	RouteSendConnectionInvite   = routes.SendConnectionInvite
	RouteServerLogs             = routes.ServerLogs
	RouteSyncServer             = routes.SyncServer
	RouteGetServerSyncRunStatus = routes.GetServerSyncRunStatus
	RouteFullResync             = routes.FullResync
	RouteFullResyncStatus       = routes.FullResyncStatus
	RouteReAuthoriseServer      = routes.ReAuthoriseServer
	RouteManualRefreshSaltEdge  = routes.ManualRefreshSaltEdge
	RouteListServerRuns         = routes.ListServerRuns
	RouteGetPipelineRuns        = routes.GetPipelineRuns
	RoutePipelineRunLogs        = routes.PipelineRunLogs
	RouteListDatabases          = routes.ListDatabases
	RouteListTables             = routes.ListTables
	RouteGetTable               = routes.GetTable
	RouteCreateQueryTable       = routes.CreateQueryTable
	RouteUpdateTable            = routes.UpdateTable
	RouteListRows               = routes.ListRows
	RouteUpdateCell             = routes.UpdateCell
	RouteQuery                  = routes.Query
	RouteLookupConnection       = routes.LookupConnection
	RouteLookupDatabase         = routes.LookupDatabase
	RouteLookupSchema           = routes.LookupSchema
	RouteLookupTable            = routes.LookupTable
	RouteListScripts            = routes.ListScripts
	RouteGetScript              = routes.GetScript
	RouteCreateScript           = routes.CreateScript
	RouteUpdateScript           = routes.UpdateScript
	RouteTriggerScriptRun       = routes.TriggerScriptRun
	RouteCreateScriptRun        = routes.CreateScriptRun
	RouteListScriptRuns         = routes.ListScriptRuns
	RouteGetScriptRun           = routes.GetScriptRun
	RouteScriptRunLogs          = routes.ScriptRunLogs
	RouteListGroups             = routes.ListGroups
)

// RouteInfo describes one route of the SDK's table: what it sends, which
// token it needs, whether the SDK may retry it, and where its path comes
// from ("doc", "client", "doc+client" or "inferred": an inferred path is our
// best guess and may be wrong; Do lets you work around it). docs/routes.md
// is the same table, generated from it.
type RouteInfo struct {
	Name       string
	Method     string
	Path       string // template; "{id}"-style segments are parameters
	Partner    bool   // true: partner token; false: tenant token
	SideEffect bool   // a GET that triggers work; sent once
	Retry      bool
	// Success is the status the service answers on success (the SDK
	// accepts any 2xx).
	Success  int
	Evidence string
	// Note says more about the route's evidence or shape, when there is
	// more to say.
	Note string
}

// Routes lists every route the SDK knows, in a stable order.
func Routes() []RouteInfo {
	all := routes.All()
	out := make([]RouteInfo, len(all))
	for i, r := range all {
		out[i] = RouteInfo{Name: r.Name, Method: r.Method, Path: r.Path, Partner: r.Auth == routes.Partner,
			SideEffect: r.SideEffect, Retry: r.Retry, Success: r.Success, Evidence: string(r.Evidence), Note: r.Note}
	}
	return out
}

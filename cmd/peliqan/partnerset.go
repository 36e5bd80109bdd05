package main

import (
	"fmt"
	"slices"

	"github.com/peliqan-community/peliqan-go"
)

// profileFailure is a profile whose part of an --all-profiles command
// failed as a whole.
type profileFailure struct {
	profile string
	err     error
}

// partnerSet returns every profile of the config file as one
// peliqan.PartnerSet, named by profile, for --all-profiles. A profile whose
// client cannot be made (the SDK refuses its token or URL) is returned as a
// failure and left out; the set is nil when no profile is left.
func (a *app) partnerSet() (*peliqan.PartnerSet, []profileFailure, error) {
	accs, err := a.allAccounts()
	if err != nil {
		return nil, nil, err
	}
	clients := map[string]*peliqan.PartnerClient{}
	var failed []profileFailure
	for _, acc := range accs {
		p, err := a.partner(acc)
		if err != nil {
			failed = append(failed, profileFailure{acc.Name, err})
			continue
		}
		clients[acc.Name] = p
	}
	if len(clients) == 0 {
		return nil, failed, nil
	}
	set, err := peliqan.NewPartnerSet(clients)
	if err != nil {
		return nil, nil, usageErrorf("profiles: %v", err)
	}
	return set, failed, nil
}

// failedProfile reports whether name is among failed.
func failedProfile(failed []profileFailure, name string) bool {
	return slices.ContainsFunc(failed, func(f profileFailure) bool { return f.profile == name })
}

// printFailures reports each failed profile on stderr, with its name.
func (a *app) printFailures(failed []profileFailure) {
	for _, f := range failed {
		a.printError(fmt.Errorf("profile %s: %w", f.profile, f.err))
	}
}

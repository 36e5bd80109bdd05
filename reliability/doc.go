// Package reliability holds no code: its tests fuzz the SDK's public API
// from the outside (every decoder fed by the server, reached through a
// client whose transport answers with the fuzzer's bytes; the webhook
// handler; the input checks that stand before the network). The fault
// injection, secrets, leak and load suites live beside the SDK as
// faults_test.go, secrets_test.go, leaks_test.go and load_test.go, and
// scripts/fuzz.sh runs every Fuzz target of the module.
package reliability

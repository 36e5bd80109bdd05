module github.com/peliqan-community/peliqan-go/examples/embed-server

go 1.25.0

require github.com/peliqan-community/peliqan-go v0.0.0

require (
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/google/go-querystring v1.2.0 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/hashicorp/go-retryablehttp v0.7.8 // indirect
	golang.org/x/time v0.15.0 // indirect
)

replace github.com/peliqan-community/peliqan-go => ../..

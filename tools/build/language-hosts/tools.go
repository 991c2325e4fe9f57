//go:build tools

// Package tools pins the command this module builds; it is never compiled into anything.
package tools

import (
	_ "github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3"
)

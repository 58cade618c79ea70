// Package examples holds runnable programs that embed Pillars;
// examples/quickstart is the main demo: go run ./examples/quickstart.
package examples

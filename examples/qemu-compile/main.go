// hello prints the platform it was compiled for and the one it runs on, so a multi-arch image can be checked
// from the outside: `docker run --platform linux/arm64 IMAGE` must print linux/arm64.
package main

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Printf("hello from %s/%s (%s)\n", runtime.GOOS, runtime.GOARCH, runtime.Version())
}

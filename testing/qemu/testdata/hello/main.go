// Command hello is what testing/qemu's tests install in a guest with
// VM.GoBuild: it prints the architecture it was built for and runs on.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Printf("hello from %s/%s, pid %d\n", runtime.GOOS, runtime.GOARCH, os.Getpid())
}

// Command pmipctl. Being built; see README.md for what exists today.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "pmipctl: not built yet (see README.md)")
	os.Exit(2)
}

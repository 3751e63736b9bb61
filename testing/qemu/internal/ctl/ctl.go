// Package ctl is the control protocol between the QEMU harness on the host
// and the agent in the guest: JSON objects, one per line, over a
// virtio-serial port.
//
//	host (testing/qemu)                       guest (testing/qemu/agent)
//	  unix socket  <== virtserialport "pmip.ctl" ==>  /dev/vportNpM
//	                 <-- Hello (once, when the agent is up)
//	  Request{ID, Op: run, Argv...} -->
//	                 <-- Reply{ID, Type: out, Data} (zero or more)
//	                 <-- Reply{ID, Type: exit, Code, Err}
//	  Request{ID, Op: kill} -->               (ends request ID's process group)
//	  Request{Op: poweroff} -->               (syncs and powers the guest off)
//
// Requests are independent: several may run at once, and replies of
// different IDs interleave.
package ctl

// PortName is the virtio-serial port name the harness gives QEMU and the
// agent looks up under /sys/class/virtio-ports.
const PortName = "pmip.ctl"

// Operations of a Request.
const (
	OpRun      = "run"
	OpKill     = "kill"
	OpPoweroff = "poweroff"
)

// Types of a Reply.
const (
	TypeHello = "hello"
	TypeOut   = "out"
	TypeExit  = "exit"
)

// Request is a message from the host to the agent.
type Request struct {
	ID   uint64   `json:"id"`
	Op   string   `json:"op"`
	Argv []string `json:"argv,omitempty"`
	// Env is added to the agent's environment (KEY=VALUE).
	Env []string `json:"env,omitempty"`
	// Dir is the working directory; empty means /.
	Dir string `json:"dir,omitempty"`
	// Stdin is written to the process's standard input, then closed.
	Stdin []byte `json:"stdin,omitempty"`
}

// Reply is a message from the agent to the host.
type Reply struct {
	ID   uint64 `json:"id,omitempty"`
	Type string `json:"type"`
	// Data is a chunk of the process's combined stdout and stderr (out).
	Data []byte `json:"data,omitempty"`
	// Code is the exit status (exit); -1 when the process did not start or
	// was killed by a signal.
	Code int `json:"code,omitempty"`
	// Err says why the process failed to start or how it ended abnormally.
	Err string `json:"err,omitempty"`
	// Kernel is the guest's kernel release (hello).
	Kernel string `json:"kernel,omitempty"`
	// UptimeMS is the guest's uptime when the agent came up (hello).
	UptimeMS int64 `json:"uptime_ms,omitempty"`
}

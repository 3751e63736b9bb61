package l2

import (
	"testing"
	"unsafe"
)

// TestMmsghdrLayout: struct mmsghdr is struct msghdr plus an unsigned int,
// padded to the pointer size: 64 bytes on 64-bit Linux, 32 on the 32-bit
// ports (mipsle, arm). A wrong size would make sendmmsg read garbage from
// the second message on.
func TestMmsghdrLayout(t *testing.T) {
	want := uintptr(64)
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = 32
	}
	if got := unsafe.Sizeof(mmsghdr{}); got != want {
		t.Errorf("sizeof(mmsghdr) = %d, want %d", got, want)
	}
	if off := unsafe.Offsetof(mmsghdr{}.len); off != want-8 && off != want-4 {
		t.Errorf("msg_len at %d", off)
	}
}

package stack

import "testing"

func TestPushLen(t *testing.T) {
	var s Stack[int]
	s.Push(1)
	s.Push(2)
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
}

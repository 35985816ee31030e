package stack

import "testing"

func TestJudgePopPeek(t *testing.T) {
	var s Stack[string]
	if v, ok := s.Pop(); ok || v != "" {
		t.Fatalf("Pop on empty = %q, %v", v, ok)
	}
	if v, ok := s.Peek(); ok || v != "" {
		t.Fatalf("Peek on empty = %q, %v", v, ok)
	}
	s.Push("a")
	s.Push("b")
	if v, ok := s.Peek(); !ok || v != "b" || s.Len() != 2 {
		t.Fatalf("Peek = %q, %v (len %d)", v, ok, s.Len())
	}
	for _, want := range []string{"b", "a"} {
		if v, ok := s.Pop(); !ok || v != want {
			t.Fatalf("Pop = %q, %v, want %q", v, ok, want)
		}
	}
	if s.Len() != 0 {
		t.Fatalf("Len after popping all = %d", s.Len())
	}
	s.Push("c")
	if v, _ := s.Pop(); v != "c" {
		t.Fatalf("Pop after reuse = %q", v)
	}
}

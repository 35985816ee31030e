package inventory

import "testing"

func TestTotal(t *testing.T) {
	if got := Total([]Item{{"nut", 3}, {"bolt", 4}}); got != 7 {
		t.Fatalf("Total = %d, want 7", got)
	}
}

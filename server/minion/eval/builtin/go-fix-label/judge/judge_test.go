package inventory

import "testing"

func TestJudgeLabel(t *testing.T) {
	cases := map[Item]string{
		{"bolt", 12}:   "bolt ×12",
		{"washer", 0}:  "washer ×0",
		{"shim", -2}:   "shim ×-2",
		{"nut", 1000}:  "nut ×1000",
	}
	for item, want := range cases {
		if got := Label(item); got != want {
			t.Errorf("Label(%v) = %q, want %q", item, got, want)
		}
	}
}

func TestJudgeDescribe(t *testing.T) {
	if got := Describe([]Item{{"nut", 3}, {"bolt", 4}}); got != "2 items, 7 pieces" {
		t.Errorf("Describe = %q", got)
	}
}

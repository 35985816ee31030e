package httpstatus

import "testing"

func TestJudgeTextUnchanged(t *testing.T) {
	want := map[int]string{200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
		404: "Not Found", 500: "Internal Server Error", 418: "", 0: "", -1: ""}
	for code, phrase := range want {
		if got := Text(code); got != phrase {
			t.Errorf("Text(%d) = %q, want %q", code, got, phrase)
		}
	}
	if Class(404) != "4xx" || Class(99) != "" {
		t.Errorf("Class changed")
	}
}

func TestJudgeTextLooksUpTheTable(t *testing.T) {
	if len(reasons) != 6 {
		t.Fatalf("reasons has %d codes, want 6", len(reasons))
	}
	reasons[418] = "I'm a teapot"
	defer delete(reasons, 418)
	if got := Text(418); got != "I'm a teapot" {
		t.Fatalf("Text does not read reasons: Text(418) = %q", got)
	}
}

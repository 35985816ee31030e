package inventory

import "fmt"

// Item is one line of the stock list.
type Item struct {
	Name  string
	Count int
}

// Label is the item's shelf label: "name ×count".
func Label(it Item) string {
	return it.Name + " ×" + it.Count
}

// Total is the number of pieces in stock.
func Total(items []Item) int {
	total := 0
	for _, it := range items {
		total += it.Count
	}
	return total
}

// Describe sums the stock up in a line.
func Describe(items []Item) string {
	return fmt.Sprintf("%d items, %d pieces", len(items), Total(items))
}

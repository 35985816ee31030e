// Package stack is a last-in, first-out stack of any type.
package stack

// Stack holds its items in order, the top last.
type Stack[T any] struct {
	items []T
}

// Push puts v on top.
func (s *Stack[T]) Push(v T) {
	s.items = append(s.items, v)
}

// Len is the number of items.
func (s *Stack[T]) Len() int {
	return len(s.items)
}

// TODO(minion): add Pop() (T, bool): remove and return the top item; on an empty stack return
// T's zero value and false. And Peek() (T, bool): the same, without removing it.

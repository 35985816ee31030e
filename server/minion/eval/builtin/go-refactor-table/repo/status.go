// Package httpstatus names HTTP status codes.
package httpstatus

import "fmt"

// Text is the reason phrase of an HTTP status code, "" for one it does not know.
func Text(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 204:
		return "No Content"
	case 301:
		return "Moved Permanently"
	case 404:
		return "Not Found"
	case 500:
		return "Internal Server Error"
	}
	return ""
}

// Class is "1xx" … "5xx", or "" outside 100-599.
func Class(code int) string {
	if code < 100 || code > 599 {
		return ""
	}
	return fmt.Sprintf("%dxx", code/100)
}

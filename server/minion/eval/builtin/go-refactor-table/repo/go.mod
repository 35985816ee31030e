module example.com/httpstatus

go 1.19

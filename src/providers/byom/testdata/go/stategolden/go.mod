module stategolden

go 1.19

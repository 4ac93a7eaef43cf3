module github.com/event-driven-bayes/event-driven-bayes/services/bayes

go 1.26.0

require (
	github.com/event-driven-bayes/event-driven-bayes/services/events v0.0.0
	github.com/event-driven-bayes/event-driven-bayes/services/platform v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
	golang.org/x/sync v0.25.0
	gonum.org/v1/plot v0.17.0
	pgregory.net/rapid v1.3.0
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)

replace github.com/event-driven-bayes/event-driven-bayes/services/events => ../events

replace github.com/event-driven-bayes/event-driven-bayes/services/platform => ../platform

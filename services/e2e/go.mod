module github.com/event-driven-bayes/event-driven-bayes/services/e2e

go 1.26

require (
	github.com/event-driven-bayes/event-driven-bayes/services/events v0.0.0
	github.com/event-driven-bayes/event-driven-bayes/services/platform v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
)

replace github.com/event-driven-bayes/event-driven-bayes/services/events => ../events

replace github.com/event-driven-bayes/event-driven-bayes/services/platform => ../platform

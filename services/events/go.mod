module github.com/event-driven-bayes/event-driven-bayes/services/events

go 1.26

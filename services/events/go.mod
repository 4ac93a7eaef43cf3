module github.com/event-driven-bayes/event-driven-bayes/services/events

go 1.26

require gonum.org/v1/gonum v0.17.0

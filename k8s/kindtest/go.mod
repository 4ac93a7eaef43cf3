module github.com/event-driven-bayes/event-driven-bayes/k8s/kindtest

go 1.26.0

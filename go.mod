module github.com/jouncebot/jouncebot

go 1.26.8

require (
	github.com/arran4/golang-ical v0.3.2
	github.com/emersion/go-ical v0.0.0-20240127095438-fc1c9d8fb2b6
	github.com/google/go-cmp v0.7.0
	github.com/robfig/cron/v3 v3.0.1
	go.etcd.io/bbolt v1.5.0
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/stretchr/testify v1.12.0 // indirect
	github.com/teambition/rrule-go v1.8.2 // indirect
	golang.org/x/net v0.61.0
	golang.org/x/sync v0.24.0 // indirect
)

require golang.org/x/sys v0.49.0 // indirect

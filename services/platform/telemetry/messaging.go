package telemetry

import semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

// MessagingRedis is the messaging.system attribute of the spans that send
// and process the stream's events (Redis streams are not in the semantic
// conventions' list, so both services name it here, the same way).
var MessagingRedis = semconv.MessagingSystemKey.String("redis")

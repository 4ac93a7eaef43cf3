package logging

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// RouteRedisClientLogs sends go-redis's own log lines (pool dial failures while
// Redis is down) to logger as warnings instead of plain text on stderr, so
// every line a service prints is JSON. go-redis keeps one logger per
// process, so only main should call this.
func RouteRedisClientLogs(logger *slog.Logger) {
	redis.SetLogger(slogAdapter{logger: logger})
}

type slogAdapter struct{ logger *slog.Logger }

func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	a.logger.WarnContext(ctx, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}

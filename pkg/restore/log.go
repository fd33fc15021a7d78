package restore

import "log/slog"

const (
	slogInfo  = slog.LevelInfo
	slogError = slog.LevelError
)

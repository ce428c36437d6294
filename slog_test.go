package coorlogprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestSlogGoesToZap(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l := newSlogLogger(zap.New(core)).With("component", "llm").WithGroup("req")
	l.Debug("dropped below the zap level")
	l.Warn("retrying", "attempt", 2, "status", 429)
	l.Error("failed")

	entries := logs.All()
	require.Len(t, entries, 2)
	assert.Equal(t, zapcore.WarnLevel, entries[0].Level)
	assert.Equal(t, "retrying", entries[0].Message)
	ctx := entries[0].ContextMap()
	assert.Equal(t, "llm", ctx["component"])
	assert.EqualValues(t, 2, ctx["req.attempt"])
	assert.EqualValues(t, 429, ctx["req.status"])
	assert.Equal(t, zapcore.ErrorLevel, entries[1].Level)
}

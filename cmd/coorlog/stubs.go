package main

import (
	"context"
	"errors"
	"io"
)

func runPretrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("pretrain: not wired yet")
}
func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("train: not wired yet")
}
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("eval: not wired yet")
}
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("bench: not wired yet")
}

package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func ioStreams() genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
}

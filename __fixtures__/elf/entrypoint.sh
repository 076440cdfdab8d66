#!/bin/sh
exec /usr/local/bin/hello "$@"

# syntax=docker/dockerfile:1
# A build stage that compiles on the target platform: under QEMU for every foreign one.
ARG GO_IMAGE=golang:1.25
ARG BASE_IMAGE=busybox:1.37

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod main.go ./
RUN go mod download
RUN CGO_ENABLED=0 go build -trimpath -o /out/hello .

FROM ${BASE_IMAGE}
COPY --from=build /out/hello /usr/local/bin/hello
ENTRYPOINT ["/usr/local/bin/hello"]

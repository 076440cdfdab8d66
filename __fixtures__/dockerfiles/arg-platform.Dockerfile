ARG BUILDER_PLATFORM=$BUILDPLATFORM
FROM --platform=${BUILDER_PLATFORM} golang:1.25 AS build
RUN go build -o /app .

FROM --platform=$TARGETPLATFORM golang:1.25 AS test
RUN go test ./...

FROM alpine AS final
RUN apk add --no-cache ca-certificates && mkdir -p /data && ln -s /data /srv
COPY --from=build /app /app

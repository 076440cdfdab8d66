FROM golang:1.25
WORKDIR /go/src/app
COPY . .
RUN ["sh", "-c", "go install ./cmd/..."]
CMD ["app"]

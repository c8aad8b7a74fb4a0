"""The product's version (read by the build, the CLI and the OpenAPI document)."""

VERSION = "0.1.0"

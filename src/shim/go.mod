module patchbay.dev/shim

go 1.22

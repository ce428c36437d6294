module github.com/coorlog/coorlogprocessor/scripts/gotchpatch

go 1.26

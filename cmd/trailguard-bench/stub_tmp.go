package main

type CostModel struct{}

func costModel(r *Report) *CostModel { return nil }
func markdown(r *Report) string      { return "" }

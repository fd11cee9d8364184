package main

import "github.com/radinpaint/rad/radmodel"

func radmodelInspect(path string) (string, error) {
	r, err := radmodel.Inspect(path)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

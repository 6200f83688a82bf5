// Package argocdhealth runs the Argo CD health scripts Outrigger ships in config/argocd/resource_customizations
// the way Argo CD's application controller runs them: in gopher-lua, with only the package, base and table
// libraries open, the live object as the global table obj, a one-second limit, and the returned table read as
// {status, message}. Tests use it to check the scripts on their testdata and on profiles from a real apiserver.
package argocdhealth

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The health statuses Argo CD knows; a script returning anything else makes Argo CD show Unknown.
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
	Suspended   = "Suspended"
	Missing     = "Missing"
	Unknown     = "Unknown"
)

// Status is what a health script returns, as Argo CD reads it.
type Status struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// ScriptPath is where Argo CD's resource_customizations layout keeps a kind's health script, under root.
func ScriptPath(root, group, kind string) string {
	return filepath.Join(root, group, kind, "health.lua")
}

// LoadScript reads a kind's health script from a resource_customizations directory.
func LoadScript(root, group, kind string) (string, error) {
	b, err := os.ReadFile(ScriptPath(root, group, kind))
	return string(b), err
}

// Evaluate runs a health script on an object as Argo CD does, and returns the health it reports. A status Argo
// CD does not know comes back as Unknown, as Argo CD shows it.
func Evaluate(script string, obj *unstructured.Unstructured) (Status, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	// Argo CD opens these three (and its own restricted os library, which Outrigger's scripts do not use).
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return Status{}, fmt.Errorf("opening the %s library: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj.Object))
	if err := l.DoString(script); err != nil {
		return Status{}, err
	}
	switch ret := l.Get(-1).(type) {
	case *lua.LTable:
		raw, err := json.Marshal(fromLua(ret))
		if err != nil {
			return Status{}, err
		}
		var st Status
		if err := json.Unmarshal(raw, &st); err != nil {
			return Status{}, fmt.Errorf("the script returned %s, not {status, message}: %w", raw, err)
		}
		switch st.Status {
		case Healthy, Progressing, Degraded, Suspended, Missing, Unknown:
			return st, nil
		}
		return Status{Status: Unknown, Message: "Lua returned an invalid health status"}, nil
	default:
		if ret == lua.LNil {
			return Status{}, nil
		}
		return Status{}, fmt.Errorf("the script returned a %s, not a table", ret.Type())
	}
}

// toLua converts an object decoded from JSON into Lua values, as Argo CD's decodeValue does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	}
	return lua.LNil
}

// fromLua converts a returned table back for JSON: string keys make an object, 1..n keys an array.
func fromLua(v lua.LValue) any {
	switch v := v.(type) {
	case *lua.LTable:
		if n := v.Len(); n > 0 {
			arr := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				arr = append(arr, fromLua(v.RawGetInt(i)))
			}
			return arr
		}
		m := map[string]any{}
		v.ForEach(func(k, val lua.LValue) { m[k.String()] = fromLua(val) })
		return m
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return float64(v)
	case lua.LBool:
		return bool(v)
	}
	return nil
}

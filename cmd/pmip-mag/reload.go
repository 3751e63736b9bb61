package main

import (
	"log/slog"
	"reflect"

	"github.com/openpmip/pmip/mag/magconfig"
)

// reload is SIGHUP: read the file again and apply what can change while
// clients are registered. That is the log level only: every other setting
// shapes bindings in flight, the sockets or the data plane, and the engine
// takes its configuration once. Those changes are listed and left for a
// restart (procd restarts the daemon when `reload_config` finds the file
// changed). A file that no longer validates changes nothing. It returns the
// configuration now in force.
func reload(cur magconfig.Config, o options, level *slog.LevelVar, log *slog.Logger) magconfig.Config {
	next, err := loadConfig(o)
	if err != nil {
		log.Error("reload: configuration invalid, keeping the running one", "err", err)
		return cur
	}
	if o.logLevel == "" && next.LogLevel != level.Level() {
		log.Info("reload: log level changed", "from", level.Level(), "to", next.LogLevel)
		level.Set(next.LogLevel)
	}
	applied := cur
	applied.LogLevel = next.LogLevel
	if changed := restartNeeded(applied, next); len(changed) > 0 {
		log.Warn("reload: these settings change only with a restart (/etc/init.d/pmip restart)", "settings", changed)
		return applied
	}
	log.Info("reload: configuration re-read")
	return applied
}

// restartNeeded names the top-level settings that differ between a and b.
func restartNeeded(a, b magconfig.Config) []string {
	var names []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for i := range t.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			names = append(names, t.Field(i).Name)
		}
	}
	return names
}

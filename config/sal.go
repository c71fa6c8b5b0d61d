package config

// SAL configures the Server Admin Log.
type SAL struct {
	// Projects map channels and rooms to SAL projects.
	Projects []SALProject `yaml:"projects"`
}

// SALProject is one log, fed from some channels/rooms.
type SALProject struct {
	Name string `yaml:"name"`
	// Rooms are "network/#channel" or "network/!room:server" strings.
	Rooms []string `yaml:"rooms"`
}

func (s *SAL) applyDefaults() {}

func (s *SAL) validate(v *validator, p string, c *Config) {}

func (s *SAL) secrets(p string) []namedSecret { return nil }

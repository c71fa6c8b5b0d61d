package config

// SecurityWarning says what check-config and the bot at startup warn
// about when local security patches can reach the bot (deploys are on)
// but no private room is configured for their details; "" when fine.
func (c *Config) SecurityWarning() string {
	if len(c.Security.Rooms) > 0 || (c.Deploy.Gerrit.URL == "" && !c.Deploy.Sandbox) {
		return ""
	}
	return "security.rooms is empty: details of local security patches and uncommitted changes in staging will go to deployers privately; add a private room to security.rooms"
}

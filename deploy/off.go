package deploy

import (
	"context"

	"github.com/jouncebot/jouncebot/bot"
)

// Off is the Engine of a bot that has no Gerrit to deploy from: every
// command says so. "tested ok" said in passing is not answered (ErrNoTest),
// since it may be chatter.
type Off struct{}

const offText sentence = "Deploys are off: this bot has no Gerrit configured (deploy.gerrit in its configuration file)."

// Start implements Engine.
func (Off) Start(context.Context, Request) (ID, error) { return "", offText }

// Continue implements Engine.
func (Off) Continue(context.Context, ID, Person) error { return offText }

// Abort implements Engine.
func (Off) Abort(context.Context, ID, Person) error { return offText }

// Approve implements Engine.
func (Off) Approve(context.Context, ID, Person) error { return offText }

// Status implements Engine.
func (Off) Status(context.Context) (Status, error) { return Status{}, offText }

// Plan implements Engine.
func (Off) Plan(context.Context, []string) (bot.Text, error) { return nil, offText }

// Summary implements Engine.
func (Off) Summary(context.Context, []string) (string, error) { return "", offText }

// Tested implements Engine.
func (Off) Tested(context.Context, ID, Person, bool) error { return ErrNoTest }

// Decide implements Engine.
func (Off) Decide(context.Context, ID, Person, string, string) error { return ErrNoDecision }

// Revert implements Engine.
func (Off) Revert(context.Context, RevertRequest) (ID, error) { return "", offText }

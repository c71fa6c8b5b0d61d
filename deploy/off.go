package deploy

import (
	"context"

	"github.com/jouncebot/jouncebot/bot"
)

// Off is the Service of a bot that has no Gerrit to deploy from: every
// command says so. "tested ok" said in passing is not answered (ErrNoTest),
// since it may be chatter.
type Off struct{}

const offText sentence = "Deploys are off: this bot has no Gerrit configured (deploy.gerrit in its configuration file)."

// Start implements Service.
func (Off) Start(context.Context, Request) (ID, error) { return "", offText }

// Continue implements Service.
func (Off) Continue(context.Context, ID, Person) error { return offText }

// Abort implements Service.
func (Off) Abort(context.Context, ID, Person) error { return offText }

// Approve implements Service.
func (Off) Approve(context.Context, ID, Person) error { return offText }

// Status implements Service.
func (Off) Status(context.Context) (Status, error) { return Status{}, offText }

// Plan implements Service.
func (Off) Plan(context.Context, []string) (bot.Text, error) { return nil, offText }

// Summary implements Service.
func (Off) Summary(context.Context, []string) (string, error) { return "", offText }

// Tested implements Service.
func (Off) Tested(context.Context, ID, Person, bool) error { return noTest(offText) }

// Decide implements Service.
func (Off) Decide(context.Context, ID, Person, string, string) error { return ErrNoDecision }

// Revert implements Service.
func (Off) Revert(context.Context, RevertRequest) (ID, error) { return "", offText }

// The page's elements, found once at start; a missing one is a bug in index.html.

const TEST_IDS = {
  status: 'status', transportDetail: 'transport-detail', session: 'session', copyLink: 'copy-link',
  transport: 'transport', agent: 'agent', connect: 'connect', mute: 'mute', interrupt: 'interrupt',
  newConversation: 'new-conversation', activity: 'activity', micBox: 'mic', micStatus: 'mic-status',
  level: 'mic-level', errors: 'errors', conversation: 'conversation', conversationEmpty: 'conversation-empty',
  announcer: 'announcer', turnAnnouncer: 'turn-announcer', composer: 'composer', textInput: 'text-input', send: 'send', composerHint: 'composer-hint',
  metrics: 'metrics', latencyReadout: 'latency-readout', events: 'events', eventsFilter: 'events-filter', hideDeltas: 'events-hide-deltas',
  eventsCount: 'events-count', eventsEmpty: 'events-empty', tools: 'tools', toolsCount: 'tools-count',
  toolsEmpty: 'tools-empty', currentAgent: 'current-agent', runs: 'runs', runsCount: 'runs-count',
  runsEmpty: 'runs-empty', agentAudio: 'agent-audio', apiKey: 'api-key', apiKeyField: 'api-key-field',
  signIn: 'sign-in', account: 'account', userName: 'user-name', userRole: 'user-role', signOut: 'sign-out',
  holdToTalk: 'hold-to-talk',
  participants: 'participants', participantsCount: 'participants-count', participantsEmpty: 'participants-empty',
};

const HISTORY_IDS = {
  listBox: 'history-list', search: 'history-search', query: 'history-query', list: 'history',
  more: 'history-more', empty: 'history-empty', detail: 'history-detail', back: 'history-back',
  title: 'history-title', items: 'history-items', resume: 'history-resume',
  exportText: 'history-export-text', exportJson: 'history-export-json', remove: 'history-delete',
  message: 'history-message',
};

function byTestId(id) {
  const node = document.querySelector(`[data-testid="${id}"]`);
  if (!node) throw new Error(`index.html lacks data-testid="${id}"`);
  return node;
}

/** The page's elements by their role in the app, plus the tabs and their panels. */
export function findUi() {
  const ui = Object.fromEntries(Object.entries(TEST_IDS).map(([key, id]) => [key, byTestId(id)]));
  ui.history = Object.fromEntries(Object.entries(HISTORY_IDS).map(([key, id]) => [key, byTestId(id)]));
  ui.tabs = [...document.querySelectorAll('[role="tab"]')];
  ui.panes = [...document.querySelectorAll('[role="tabpanel"]')];
  return ui;
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// Log lines from background threads go into queues that cmdlets drain on the pipeline thread as
    /// Verbose/Debug records; nothing here ever calls Write*.
    /// </summary>
    internal sealed class QueueLogger : ILogger
    {
        public static readonly QueueLogger Instance = new QueueLogger();

        private readonly ConcurrentDictionary<ConcurrentQueue<LogLine>, byte> _sinks = new ConcurrentDictionary<ConcurrentQueue<LogLine>, byte>();

        public void Attach(ConcurrentQueue<LogLine> sink) => _sinks[sink] = 0;

        public void Detach(ConcurrentQueue<LogLine> sink) => _sinks.TryRemove(sink, out _);

        public IDisposable BeginScope<TState>(TState state) where TState : notnull => NullScope.Instance;

        public bool IsEnabled(LogLevel logLevel) => !_sinks.IsEmpty;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (_sinks.IsEmpty) return;
            var line = new LogLine(logLevel, formatter(state, exception));
            foreach (var sink in _sinks.Keys)
                if (sink.Count < 10000) sink.Enqueue(line);
        }

        private sealed class NullScope : IDisposable
        {
            public static readonly NullScope Instance = new NullScope();
            public void Dispose() { }
        }
    }

    internal readonly struct LogLine
    {
        public LogLine(LogLevel level, string message)
        {
            Level = level;
            Message = message;
        }

        public LogLevel Level { get; }
        public string Message { get; }
    }
}
